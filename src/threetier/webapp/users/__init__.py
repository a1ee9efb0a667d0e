"""The users registry of seed 000 — table users(user_id, user_name, password, comment) —
with hashed passwords, escaped comments and one shared attachment per user."""
