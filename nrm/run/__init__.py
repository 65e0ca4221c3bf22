"""One run: its specification, checks, scales, the runner, the allocator child, lock and safety."""
