"""elpagen: generative models in Elpasolite composition space, and the harness to judge them."""

__version__ = "0.1.0"
