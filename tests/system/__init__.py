"""Tests of whole processes: real servers on loopback, the CLI, the wheel, downloads, Ray."""
