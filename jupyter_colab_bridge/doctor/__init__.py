"""The doctor, and what ``jupyter colab-bridge url`` reads (the command line is :mod:`..cli`).

* :mod:`.checks`: the doctor's table of checks, in the order a connection meets them,
  and what each observes;
* :mod:`.diagnoses`: from what a check observed to cause and fix; check ids and statuses (pure);
* :mod:`.observations`: what the checks observed, as plain data;
* :mod:`.colab_client`: a client that talks to a bridge as Colab's page does;
* :mod:`.kernel_run`: runs code on a fresh kernel through the bridge;
* :mod:`.kernel_facts`: what a Colab notebook can expect of that kernel (INFO lines);
* :mod:`.server_info`: the local servers and the settings they run with.
"""
