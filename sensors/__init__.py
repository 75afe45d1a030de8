"""Sensors and the jobs they launch."""
