"""Types and errors every other part of MTMM-ES builds on; imports nothing of the project."""
