"""Tests of the drivers under ottava.drivers."""
