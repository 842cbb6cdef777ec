"""Deep generative models on the :class:`elpagen.generator.Generator` interface.

Each model trains K seeds at once as a batched ensemble (see :mod:`.ensemble`);
member k of an ensemble is an independent fit with its own initialisation,
batches and noise.
"""
