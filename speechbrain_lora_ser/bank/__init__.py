"""The adapter bank: serving many languages, the language router, building."""
