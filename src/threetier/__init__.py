"""threetier: the classic highly available three-tier web system, as software."""

__version__ = "0.1.0"
