"""Ottava: load balancing as a service, wire-compatible with OpenStack Octavia's v2 API."""

import warnings

# oslo.messaging imports oslo.service, whose eventlet back end warns on import although
# Ottava runs threads, never eventlet.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
