"""Officers: who may act, the commands they write and what each does."""
