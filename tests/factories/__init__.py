"""Builders shared by test modules: records, datasets and source folders as the stages read
them, stand-in generators, and the overrides every tiny stage run takes. Test modules import
from here, never from each other."""
