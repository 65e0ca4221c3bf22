"""Instrumentation: the probe, the run log and its columns, arenas, allocators, machine context,
the reader."""
