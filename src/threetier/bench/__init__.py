"""`threetier bench`: the seeds' `ab -n 2000 -c 100`, with latency percentiles and the
spread of requests over the instances. Locust generates the load in a child process
(it monkey-patches the standard library with gevent, which must not leak into the CLI)."""
