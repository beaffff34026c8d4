"""The user's tools: ``jupyter colab-bridge url``, ``doctor`` and ``settings``.

* :mod:`.cli`: the command line;
* :mod:`.checks`: the doctor's checks, in the order a connection meets them;
* :mod:`.diagnoses`: from what a check observed to cause and fix (pure);
* :mod:`.colab_client`: a client that talks to a bridge as Colab's page does;
* :mod:`.kernel_run`: runs code on a fresh kernel through the bridge;
* :mod:`.kernel_facts`: what a Colab notebook can expect of that kernel (INFO lines);
* :mod:`.server_info`: the local servers and the settings they run with.
"""
