"""StimStudio: realistic, controllable mammogram stimuli (Ren, Yu & Whitney 2021)."""

__version__ = "0.1.0"
