"""Where job processes run: local subprocesses now, Ray clusters later."""
