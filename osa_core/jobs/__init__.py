"""The job side: batch scripts, the runner that executes a task's steps, and step records."""
