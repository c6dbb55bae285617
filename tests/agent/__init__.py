"""Tests of the amphora agent, with the real HAProxy."""
