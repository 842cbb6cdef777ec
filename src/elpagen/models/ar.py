"""Conditional autoregressive model over the sites of the space (not in the paper).

p(x_1, ..., x_S | c) = p(x_1|c) p(x_2|x_1,c) ... p(x_S|x_1..x_S-1,c) over the S sites of the
training set's space in order (the elpasolite: A, B, C, D), each factor a softmax over the
site's elements with the elements already placed masked out (where the space asks for
distinct elements), so every sample is a valid composition and the likelihood of any
composition is exact (:meth:`ARModel.log_prob`).

Generalisation across elements: a candidate element is never an output unit of its own
(that memorises the 86 class-1 training compositions). Its logit is a learned function of
its (row, group) features, scaled like the space's representation (docs/method.md section 2):

    logit(e | context) = h(context) . g(x_e)[:d] + g(x_e)[d]

with ``h`` an MLP over the context (class one-hot, site one-hot, the scaled (row, group)
vector of the sites already placed with 0 for the others) and ``g`` a small MLP over the
element's 2-D scaled (row, group) vector; the last output of ``g`` is a per-element bias
(again a function of the features, not a free parameter). The site one-hot tells which
sites are placed (they are filled in order), so the 0 of an unplaced site is unambiguous.
Logits are computed over every element of the space (``space.elements``); a site whose
list is shorter masks the others out.

Training: one conditional model for all classes, class-balanced batches
(docs/method.md section 3), loss = negative log-likelihood summed over the sites and
averaged over the batch (exact maximum likelihood, teacher forcing); AdamW's decoupled
weight decay and dropout in h regularise. K seeds train as one batched ensemble (docs/design.md,
"Generators"): member k equals a single fit with seed k.

Sampling knob ``temperature`` T: every factor is softmax(logits / T) over the unused
elements (T = 1: the fitted model). The grid starts at 0.25 like the VAE's and GAN's: at
0.5 the class-1 frontier is still rising in precision, and stopping there cuts its
hypervolume (docs/results.md, "Frontiers").
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from elpagen.data import N_CLASSES, TrainingSet
from elpagen.errors import InputError
from elpagen.generator import CompositionTable
from elpagen.models.ar_config import SAMPLING_SETTINGS
from elpagen.models.ar_config import ARConfig as ARConfig
from elpagen.models.base import TorchEnsembleGenerator, knob_free_outputs
from elpagen.models.ensemble import BalancedBatches, EnsembleMLP, MemberRandom

# Guided lived here before models/guided.py: elpagen.models.ar.Guided still names it.
from elpagen.models.guided import Guided as Guided
from elpagen.models.guided import guided_rejection
from elpagen.models.sites import element_features, site_maps
from elpagen.models.training import ensemble_step, progress_steps
from elpagen.space import CompositionSpace


def context_dim(space: CompositionSpace) -> int:
    """Context input: class one-hot, site one-hot, scaled vector of the placed sites."""
    return N_CLASSES + space.n_sites + space.n_features


#: Element input: scaled (row, group).
ELEMENT_DIM = 2
#: From this many draws in one ``propose`` call on, ``ar`` (and ``gfn``) draws from its
#: exact table (:meth:`ARModel.composition_table`: built once per fit, temperature and
#: class, then one vectorised draw) instead of running its network site by site. Building
#: the table costs as much CPU as ~75,000 site-by-site draws (docs/benchmarks.md, "ar draws
#: from its exact table at large N"); the threshold sits well above that crossover so that
#: every sampled figure up to 250,000 samples (``elpagen run`` at 10,000, the study's
#: class-1 discovery curve) keeps its digits, while the 25 M runs of class 5 take the table.
#: ``Generator.sample`` asks in rounds of at most 4 M (elpagen.memory.MAX_ROUND).
TABLE_MIN_DRAWS = 1_000_000


class ARModel(TorchEnsembleGenerator):
    """Conditional autoregressive model over the sites of the space, in order; one fit
    serves every class; exact likelihoods; every proposal is valid."""

    name = "ar"
    conditional = True
    knob = "temperature"
    knob_default = 1.0
    knob_grid = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    temperature: float = 1.0
    #: ``propose`` calls of at least this many draws use the exact table (a class attribute
    #: so that tests and benchmarks can move it; see :data:`TABLE_MIN_DRAWS`).
    table_min_draws: int = TABLE_MIN_DRAWS
    #: The last table built: ((temperature, class), joint over the grid, table).
    _table: tuple[tuple[float, int], np.ndarray, CompositionTable] | None = None
    Config = ARConfig
    PROTOCOLS = {
        # Our own larger budget (the paper has no AR model); not tuned.
        "paper": ARConfig(hidden=(256, 256), steps=4_000, batch_size=500, lr=5e-4),
        # fast (the defaults): chosen on the held-out NLL of a twin-grouped split
        # (16,000 / 5,112): dropout 0.5 and 1,500-2,000 steps beat longer or wider fits on
        # the small classes 1, 2, 9, 10 (docs/protocols.md).
        "fast": ARConfig(),
    }

    def build_networks(self, k: int) -> dict[str, nn.Module]:
        c = self.config
        width = context_dim(self.fitted_space)
        return {
            "context": EnsembleMLP(k, width, c.hidden, c.embed, layer_norm=c.layer_norm),
            "element": EnsembleMLP(k, ELEMENT_DIM, c.element_hidden, c.embed + 1,
                                   layer_norm=c.layer_norm),
        }

    # -- the conditionals -------------------------------------------------------------
    def _element_table(self, nets: nn.ModuleDict) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, d, U) element embeddings and (K, 1, U) element biases (U: the space's
        elements)."""
        dt = next(nets.parameters()).dtype
        x = torch.from_numpy(element_features(self.fitted_space)).to(self.device, dt)
        g = nets["element"](x.expand(nets["element"].k, -1, -1))  # (K, U, d + 1)
        return g[..., :-1].transpose(1, 2), g[..., -1:].transpose(1, 2)

    def _context(
        self, nets: nn.ModuleDict, ctx: torch.Tensor, rand: MemberRandom | None = None
    ) -> torch.Tensor:
        """h(ctx), with dropout after every hidden activation when ``rand`` is given."""
        p = self.config.dropout
        if rand is None or p == 0:
            return nets["context"](ctx)
        x = ctx
        for layer in nets["context"].net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                keep = (rand.uniform(*x.shape[1:]) >= p).to(x.dtype)
                x = x * keep / (1 - p)
        return x

    def _to_union(self, elements: torch.Tensor) -> torch.Tensor:
        """Per-site element indices (..., n_sites) -> indices into ``space.elements``."""
        maps = site_maps(self.fitted_space)
        if maps.identity:
            return elements
        return torch.stack([torch.from_numpy(u).to(elements.device)[elements[..., s]]
                            for s, u in enumerate(maps.union)], -1)

    def _to_site(self, picks: torch.Tensor, s: int) -> torch.Tensor:
        """Indices into ``space.elements`` -> indices into site ``s``'s list."""
        maps = site_maps(self.fitted_space)
        if maps.identity:
            return picks
        return torch.from_numpy(maps.to_site[s]).to(picks.device)[picks].clamp_min(0)

    def _site_logits(
        self,
        nets: nn.ModuleDict,
        elements: torch.Tensor,
        classes: torch.Tensor,
        rand: MemberRandom | None = None,
        site: int | None = None,
        tempered: bool = True,
    ) -> torch.Tensor:
        """Logits of all sites under teacher forcing, used elements masked to -inf.

        ``elements``: (K, B, S) int64 per-site indices; ``classes``: (K, B) int64 in 0..9.
        Returns (K, B, S, U) over the space's elements U (``space.elements``): entry
        [.., s, e] is the logit of element e at site s given the elements of sites < s
        (divided by the temperature if ``tempered``; -inf for an element used before or
        not on site s). With ``site`` = s, only that site's (K, B, U) logits (sites >= s of
        ``elements`` are then never read).
        """
        space = self.fitted_space
        maps = site_maps(space)
        k, b = elements.shape[:2]
        n_all = space.n_sites
        n_sites = n_all if site is None else 1
        dt = next(nets.parameters()).dtype
        elements = self._to_union(elements)
        feat = torch.from_numpy(element_features(space)).to(self.device, dt)[elements]  # K,B,S,2
        feat = feat.reshape(k, b, 1, space.n_features).expand(k, b, n_sites, -1)
        sites = torch.arange(n_all, device=self.device)
        eye = torch.eye(n_all, device=self.device, dtype=dt)
        if site is not None:
            sites, eye = sites[site : site + 1], eye[site : site + 1]
        placed = (torch.arange(space.n_features, device=self.device)[None, :] // 2
                  < sites[:, None]).to(dt)  # (S, n_features): features of sites < s
        ctx = torch.cat([
            F.one_hot(classes, N_CLASSES).to(dt)[:, :, None, :].expand(-1, -1, n_sites, -1),
            eye.expand(k, b, -1, -1),
            feat * placed,
        ], -1).reshape(k, b * n_sites, context_dim(space))
        emb, bias = self._element_table(nets)
        h = self._context(nets, ctx, rand)
        logits = (torch.bmm(h, emb) + bias).reshape(k, b, n_sites, -1)
        if tempered and self.temperature != 1.0:  # T = 1: exactly the fitted logits
            logits = logits / self.temperature
        if not maps.identity:  # elements the site does not hold
            off = torch.from_numpy(maps.off_site).to(self.device)
            logits = logits.masked_fill(off[sites], float("-inf"))
        if not space.distinct:
            return logits[:, :, 0] if site is not None else logits
        used = F.one_hot(elements, len(space.elements)).bool()  # (K, B, S, U)
        earlier = torch.cumsum(used.to(torch.int64), dim=2) - used.to(torch.int64)
        if site is not None:
            return logits[:, :, 0].masked_fill(earlier[:, :, site] > 0, float("-inf"))
        return logits.masked_fill(earlier > 0, float("-inf"))

    def _log_likelihood(
        self,
        nets: nn.ModuleDict,
        elements: torch.Tensor,
        classes: torch.Tensor,
        rand: MemberRandom | None = None,
    ) -> torch.Tensor:
        """(K, B) exact log p(composition | class) (``rand``: training, with dropout)."""
        logp = torch.log_softmax(self._site_logits(nets, elements, classes, rand), dim=-1)
        return logp.gather(-1, self._to_union(elements)[..., None])[..., 0].sum(-1)

    # -- training ---------------------------------------------------------------------
    def fit(self, train: TrainingSet, target_class: int | None = None) -> ARModel:
        self._table = None  # new weights (ar's or gfn's): a table of the old ones is stale
        super().fit(train, target_class)
        return self

    def train_ensemble(self, train: TrainingSet, target_class: int | None) -> None:
        c, dev, nets = self.config, self.device, self.nets
        el_all = torch.from_numpy(train.elements.astype(np.int64)).to(dev)
        y_all = torch.from_numpy(train.classes.astype(np.int64) - 1).to(dev)
        rand = MemberRandom(self.seeds, dev)
        batches = BalancedBatches(train.balanced_weights(), rand, c.batch_size)
        opt = torch.optim.AdamW(nets.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        losses: list[list[float]] = []
        for step in progress_steps(c.steps, f"ar x{self.k}", self.progress):
            idx = torch.from_numpy(batches.next()).to(dev)
            loss_k = -self._log_likelihood(nets, el_all[idx], y_all[idx], rand).mean(-1)
            ensemble_step(opt, loss_k, step, c.steps, losses)
        self.history["loss"] = losses

    # -- likelihoods ------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, codes: np.ndarray, target_class: int) -> np.ndarray:
        """(K, n) exact natural-log probabilities of ``codes`` (valid compositions) for
        ``target_class``, one row per member, at the current temperature."""
        c = self._check_target(target_class)
        nets = self._require_fitted()
        space = self.fitted_space
        el = space.decode(np.asarray(codes))
        if len(el) and not space.is_valid(el).all():
            raise InputError(f"log_prob: every code must be a composition of the {space.name} "
                             "space")
        out = np.empty((self.k, len(el)), dtype=np.float64)
        chunk = 1 << 15
        for start in range(0, len(el), chunk):
            e = torch.from_numpy(el[start : start + chunk]).to(self.device)
            e = e.expand(self.k, -1, -1)
            y = torch.full(e.shape[:2], c - 1, dtype=torch.int64, device=self.device)
            out[:, start : start + len(e[0])] = self._log_likelihood(nets, e, y).double().cpu()
        return out

    @torch.no_grad()
    def site_probabilities(self, prefix: np.ndarray, target_class: int) -> np.ndarray:
        """(K, n, n_s) probabilities of site s's elements (in the site's order) given
        ``prefix``, an (n, s) array of the elements on the first s sites (s = 0 .. n_sites
        - 1), at the current temperature; elements already placed have probability 0."""
        pre = np.asarray(prefix, dtype=np.int64)
        return self._softmax(self._prefix_logits(pre, target_class), pre.shape[1])

    def _softmax(self, logits: torch.Tensor, s: int) -> np.ndarray:
        """Site ``s``'s probabilities at the current temperature from its untempered
        logits (divided as _site_logits divides: the same bits)."""
        if self.temperature != 1.0:
            logits = logits / self.temperature
        p = torch.softmax(logits.double(), -1).cpu().numpy()
        maps = site_maps(self.fitted_space)
        return p if maps.identity else p[..., maps.union[s]]

    @torch.no_grad()
    def _prefix_logits(self, pre: np.ndarray, target_class: int) -> torch.Tensor:
        """(K, n, U) untempered logits of site s = ``pre.shape[1]`` given the prefixes."""
        c = self._check_target(target_class)
        nets = self._require_fitted()
        space = self.fitted_space
        n, s = pre.shape
        if not 0 <= s < space.n_sites:
            raise InputError(f"a prefix holds 0 to {space.n_sites - 1} sites, got {s}")
        el = np.zeros((n, space.n_sites), dtype=np.int64)
        el[:, :s] = pre  # sites >= s do not reach site s's context or mask
        e = torch.from_numpy(el).to(self.device).expand(self.k, -1, -1)
        y = torch.full(e.shape[:2], c - 1, dtype=torch.int64, device=self.device)
        return self._site_logits(nets, e, y, tempered=False)[:, :, s]

    def composition_distribution(self, target_class: int) -> np.ndarray | None:
        """The exact sampling distribution over the grid (single member, current
        temperature), by expanding the factors over every prefix: one context evaluation
        per prefix (1 + n_1 + n_1 n_2 + ...) instead of one per site and composition.
        None with nucleus sampling
        or guidance (their distributions are not tabulated here). For :mod:`elpagen.expected`."""
        if self.config.top_p < 1.0 or self.config.guidance > 0:
            return None
        return self._tabulate(target_class)[0].copy()

    def composition_table(self, target_class: int) -> CompositionTable:
        """The exact distribution of the sampling policy without guidance (temperature
        applied, no nucleus) as a table to draw from; built once, then cached until the
        temperature, the class or the weights change."""
        if self.config.top_p < 1.0:
            raise InputError("ar: nucleus sampling (top_p < 1) has no table; "
                             "draw site by site (tabulated=False)")
        return self._tabulate(target_class)[1]

    def _tabulate(self, target_class: int) -> tuple[np.ndarray, CompositionTable]:
        """(joint over the grid, table of the compositions with p > 0), cached."""
        c = self._check_target(target_class)
        self._require_single()
        key = (float(self.temperature), c)
        if self._table is not None and self._table[0] == key:
            return self._table[1], self._table[2]
        sizes = self.fitted_space.sizes
        n_sites = len(sizes)
        # Every prefix's logits, untempered, once per class and fit (a temperature sweep
        # reuses them): prefixes of site s in C order, the empty one for site 0.
        cache = knob_free_outputs(self._require_fitted())
        if cache.get("class") != c:
            grids = [np.zeros((1, 0), np.int64)] + [
                np.indices(sizes[:s]).reshape(s, -1).T for s in range(1, n_sites)]
            cache.update({"class": c, "logits": [self._prefix_logits(g, c)[0] for g in grids]})
        p = [self._softmax(x, s) for s, x in enumerate(cache["logits"])]
        p = [p[0][0]] + [q.reshape(sizes[: s + 2]) for s, q in enumerate(p[1:])]
        joint = p[0].reshape(p[0].shape + (1,) * (n_sites - 1))
        for s in range(1, n_sites):
            joint = joint * p[s].reshape(p[s].shape + (1,) * (n_sites - 1 - s))
        joint = joint.ravel()
        # Grid points with a repeated element have probability exactly 0 (masked logits),
        # so the positive entries are compositions.
        codes = np.flatnonzero(joint)
        table = CompositionTable.from_weights(codes, joint[codes])
        self._table = (key, joint, table)
        return joint, table

    def held_out_nll(self, codes: np.ndarray, target_class: int) -> float:
        """Mean negative log-likelihood (nats per composition, exact) of a single-member
        model on ``codes`` for ``target_class``; uniform over the space is the log of its
        size (the elpasolite's: 14.50)."""
        self._require_single()
        if len(codes) == 0:
            raise InputError("held_out_nll needs at least one composition")
        return float(-self.log_prob(codes, target_class)[0].mean())

    # -- sampling ---------------------------------------------------------------------
    def with_sampling(self, **settings: float) -> ARModel:
        """A copy that shares the fitted networks and samples with other sampling
        settings (``top_p``, ``guidance``; checked like any setting), e.g.
        ``model.with_sampling(top_p=0.9, guidance=2)``."""
        unknown = set(settings) - SAMPLING_SETTINGS
        if unknown:
            raise InputError(f"not a sampling setting: {', '.join(sorted(unknown))}; "
                             f"choose from {', '.join(sorted(SAMPLING_SETTINGS))}")
        out = copy.copy(self)
        out.config = dataclasses.replace(self.config, **settings)  # validates
        return out

    def class_posterior(self, codes: np.ndarray, target_class: int) -> np.ndarray:
        """(n,) the fitted model's posterior p(c | x) of ``target_class`` for valid
        ``codes`` (T = 1, uniform prior over the ten classes): a single-member model."""
        c = self._check_target(target_class)
        self._require_single()
        fitted = self.with_knob(1.0) if self.temperature != 1.0 else self
        lp = np.stack([fitted.log_prob(codes, k)[0] for k in range(1, N_CLASSES + 1)])
        return np.exp(lp[c - 1] - np.logaddexp.reduce(lp, axis=0))

    def propose(
        self,
        n: int,
        target_class: int,
        rng: np.random.Generator,
        *,
        tabulated: bool | None = None,
    ) -> np.ndarray:
        """n draws (all valid). ``tabulated``: draw from the exact table (True) or site by
        site (False); None: the table from :attr:`table_min_draws` draws per call on
        (nucleus sampling always draws site by site)."""
        w = self.config.guidance
        if w == 0:
            return self._propose_policy(n, target_class, rng, tabulated)
        return guided_rejection(
            lambda m: self._propose_policy(m, target_class, rng, tabulated),
            lambda codes: self.class_posterior(codes, target_class), w, n, rng, self.name)

    @torch.no_grad()
    def _propose_policy(
        self, n: int, target_class: int, rng: np.random.Generator, tabulated: bool | None = None
    ) -> np.ndarray:
        """n draws from the sampling policy (temperature and nucleus; no guidance)."""
        c = self._check_target(target_class)
        nets = self._require_single()
        top_p = self.config.top_p
        if tabulated is None:
            tabulated = top_p == 1.0 and n >= self.table_min_draws
        if tabulated:
            # The same distribution as the loop below (the chain rule), drawn at once.
            return self.composition_table(c).sample(n, rng)
        gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**63 - 1)))
        dt = next(nets.parameters()).dtype
        space = self.fitted_space
        maps = site_maps(space)
        n_sites = space.n_sites
        emb, bias = self._element_table(nets)
        table = torch.from_numpy(element_features(space)).to(self.device, dt)
        off = torch.from_numpy(maps.off_site).to(self.device)
        out = np.empty(n, dtype=np.int64)
        chunk = 1 << 16
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            el = torch.zeros((m, n_sites), dtype=torch.int64, device=self.device)
            used = torch.zeros((m, len(space.elements)), dtype=torch.bool, device=self.device)
            feat = torch.zeros((m, space.n_features), dtype=dt, device=self.device)
            y = torch.zeros((m, N_CLASSES), dtype=dt, device=self.device)
            y[:, c - 1] = 1.0
            for s in range(n_sites):
                site = torch.zeros((m, n_sites), dtype=dt, device=self.device)
                site[:, s] = 1.0
                ctx = torch.cat([y, site, feat], -1)[None]
                logits = (torch.bmm(nets["context"](ctx), emb) + bias)[0]
                blocked = used if maps.identity else used | off[s]
                scaled = logits / self.temperature if self.temperature != 1.0 else logits
                scaled = scaled.masked_fill(blocked, float("-inf")).double()
                if top_p < 1.0:  # the nucleus of the fitted (T = 1) distribution
                    p1 = torch.softmax(logits.masked_fill(blocked, float("-inf")).double(), -1)
                    sp, order = p1.sort(-1, descending=True)
                    out_sorted = (sp.cumsum(-1) - sp) >= top_p  # mass before it reached top_p
                    drop = torch.zeros_like(out_sorted).scatter(-1, order, out_sorted)
                    scaled = scaled.masked_fill(drop, float("-inf"))
                probs = torch.softmax(scaled, -1)
                pick = torch.multinomial(probs, 1, generator=gen)[:, 0]  # a union index
                el[:, s] = self._to_site(pick, s)
                if space.distinct:
                    used[torch.arange(m, device=self.device), pick] = True
                feat[:, 2 * s : 2 * s + 2] = table[pick]
            out[start : start + m] = space.encode(el.cpu().numpy())
        return out
