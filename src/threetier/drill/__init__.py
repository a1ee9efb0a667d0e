"""`threetier drill`: the seeds' manual redundancy checks, automated under load.

A drill runs against a `DrillTarget` (the local twin, or a deployed environment),
measures what the user of the system would feel — failed requests, seconds until the
load balancer notices, seconds until service is back, acknowledged writes lost — and
compares each number with the expectation from the parameters file.
"""
