"""Django's PostgreSQL backend whose connection health check also asks "still the primary?"
(see base.py). ENGINE = "threetier.webapp.postgresql"."""
