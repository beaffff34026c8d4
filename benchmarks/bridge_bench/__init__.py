"""The benchmarks of jupyter_colab_bridge, by concern (entry point: ``benchmarks/bench.py``).

* :mod:`.common`, :mod:`.stats`: constants, deadlines, medians and percentiles;
* :mod:`.server`: the jupyter_server subprocess with the bridge;
* :mod:`.codec`, :mod:`.http_client`, :mod:`.websocket`, :mod:`.bridge_client`,
  :mod:`.kernel_clients`: the minimal clients (raw HTTP, raw WebSocket, one
  ``http_over_websocket`` connection, the kernel over a WebSocket or ZMQ);
* :mod:`.process`: the server's CPU time and peak RSS; :mod:`.profiling`: py-spy;
* :mod:`.context`: sizes and what every measure shares;
* the measures: :mod:`.latency` (a), :mod:`.throughput` (b), :mod:`.download`
  (c), :mod:`.kernel` (d, e), :mod:`.sweep`; :mod:`.runner` runs them;
* :mod:`.browser`, :mod:`.browser_page`: the real-browser benchmark (``--browser``:
  Chromium with the browser suite's page at Colab's origin);
* :mod:`.report`: the tables; :mod:`.cli`: the command line.
"""
