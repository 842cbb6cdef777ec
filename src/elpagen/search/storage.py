"""Optuna storage of ``elpagen search``: storage URLs, SQLite and PostgreSQL, studies.

Trials live in an Optuna RDB storage: by default the SQLite file ``elpagen_search.db`` in
the current directory (or ``$ELPAGEN_SEARCH_STORAGE``); any SQLAlchemy URL works, e.g.
PostgreSQL for workers on many machines. Every problem opening a storage or a study is
one :class:`elpagen.errors.UsageError` line, with passwords masked.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

from elpagen.errors import UsageError

DEFAULT_DB = "elpagen_search.db"
STORAGE_ENV = "ELPAGEN_SEARCH_STORAGE"
#: Grace period of a silent worker, in heartbeat intervals.
GRACE_INTERVALS = 3
#: Study attributes that must match when a study is continued. The last one is written
#: last, so a worker that lost the race to create a study waits for it (:func:`load_study`).
META_KEYS = ("model", "protocol", "quick", "samples", "seed", "target_class", "data_sha256")


def default_storage() -> str:
    """``$ELPAGEN_SEARCH_STORAGE``, else the SQLite file elpagen_search.db in the cwd."""
    env = os.environ.get(STORAGE_ENV)
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url


def sqlite_path(url: str) -> Path | None:
    """The database file of a file-based SQLite URL, else None."""
    if not url.startswith("sqlite:"):
        return None
    try:
        from sqlalchemy.engine import make_url

        db = make_url(url).database
    except Exception:  # noqa: BLE001
        return None
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several worker processes write one file: wait for the lock instead of failing.
        return {"connect_args": {"timeout": 60}}
    if url.startswith("postgresql"):
        # Fail fast on a host that drops packets; pre-ping survives server restarts.
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def open_storage(url: str, heartbeat: int | None = None, *, must_exist: bool = False) -> Any:
    """An Optuna RDBStorage for ``url``; a one-line UsageError when it cannot be used.

    ``must_exist``: refuse to create a new SQLite file (for reading a study).
    """
    import optuna
    from sqlalchemy import exc as sa_exc

    shown = safe_url(url)
    db = sqlite_path(url)
    if db is not None:
        if must_exist and not db.is_file():
            raise UsageError(
                f"no search database at {db}; run `elpagen search MODEL --trials N` first "
                "or pass --storage URL"
            )
        if not db.parent.is_dir():
            raise UsageError(f"cannot create {db}: directory {db.parent} does not exist")
    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(url)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the heartbeat API is marked experimental
            if heartbeat is not None:
                kwargs.update(
                    heartbeat_interval=int(heartbeat),
                    grace_period=GRACE_INTERVALS * int(heartbeat),
                    # The stale trial is failed and a WAITING copy (same settings) queued.
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
                    ),
                )
            return _create_rdb_storage(url, kwargs)
    except ImportError as e:
        scheme = url.split(":", 1)[0]
        missing, x = None, e  # the driver module, from the chain Optuna re-raises
        while x is not None and missing is None:
            missing = getattr(x, "name", None) if isinstance(x, ImportError) else None
            x = x.__cause__ or x.__context__
        hint = {"psycopg2": "pip install 'elpagen[postgres]'",
                "MySQLdb": "pip install mysqlclient, or pip install pymysql and use "
                           "mysql+pymysql://...",
                "pymysql": "pip install pymysql"}.get(missing or "", "install that driver")
        raise UsageError(
            f"no database driver for {scheme!r} storage {shown} (Python module "
            f"{missing or '?'} missing): {hint}; elpagen is tested with sqlite and postgresql"
        ) from None
    except (sa_exc.SQLAlchemyError, RuntimeError, ValueError) as e:
        reason = " ".join(str(getattr(e, "orig", None) or e).split())[:300]
        raise UsageError(
            f"cannot open search storage {shown}: {reason}; check the URL "
            "(e.g. postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB) and that the server "
            "runs and is reachable, or omit --storage for the local SQLite file"
        ) from None


def _create_rdb_storage(url: str, kwargs: dict[str, Any], attempts: int = 5) -> Any:
    """RDBStorage(url), retried when another process initialises the same new database.

    Two workers (or machines) opening a fresh database at once both create Optuna's tables
    and version row; the loser gets a uniqueness or lock error, and a second try finds the
    schema in place.
    """
    import optuna
    from sqlalchemy import exc as sa_exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (sa_exc.IntegrityError, sa_exc.OperationalError, sa_exc.ProgrammingError) as e:
            text = str(e).lower()
            racing = isinstance(e, sa_exc.IntegrityError) or any(
                m in text for m in ("already exists", "duplicate key", "unique", "locked"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def quiet_optuna() -> None:
    """Optuna's log at WARNING, and its experimental/future warnings off."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")


def study_names(storage: Any) -> list[str]:
    """The names of all studies in ``storage``, sorted."""
    import optuna

    return sorted(optuna.get_all_study_names(storage))


def load_study(
    storage: Any, name: str, model: str | None = None, sampler: Any = None,
    *, wait: float = 0.0,
) -> Any:
    """An existing elpagen study; one-line errors for unknown names or other models.

    ``wait``: seconds to wait for the study's attributes, which its creator (another
    worker or machine that won the race to create it) writes just after creating it.
    """
    import optuna

    names = study_names(storage)
    if name not in names:
        have = ", ".join(names) if names else "none"
        raise UsageError(f"no study named {name!r} in this storage (studies there: {have})")
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    deadline = time.monotonic() + wait
    while META_KEYS[-1] not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.25)
    attrs = study.user_attrs
    if "model" not in attrs:
        raise UsageError(f"study {name!r} was not created by `elpagen search`")
    if model is not None and attrs["model"] != model:
        raise UsageError(
            f"study {name!r} searches {attrs['model']}, not {model}; pass --study NAME"
        )
    return study


def trial_counts(study: Any) -> dict[str, int]:
    """The number of the study's trials in each state, by state name (all states listed)."""
    from optuna.trial import TrialState

    out = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] += 1
    return out
