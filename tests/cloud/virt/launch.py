"""nova-compute with the cloud tests' virt driver (`ottava_amphora.AmphoraDriver`).

Run by nova-compute's own Python (the mini-openstack's venv) with nova-compute's arguments.
Nova 34 loads a virt driver only from the `nova.virt` package: this folder is added to that
package's path in this process, so `compute_driver = ottava_amphora.AmphoraDriver` finds it and
the installation is left as it is. nova.cmd.compute is imported first: it sets up Nova's
concurrency mode before anything else of Nova is loaded.
"""

# ruff: noqa: I001 (nova.cmd.compute first: Nova's concurrency set-up)
import os
import sys

from nova.cmd import compute
import nova.virt

nova.virt.__path__.append(os.path.dirname(os.path.abspath(__file__)))
sys.exit(compute.main())
