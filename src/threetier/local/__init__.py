"""The local twin: the AWS topology on one machine, from pip-installable parts.

    Caddy (load balancer, HTTPS with a local CA, health checks, sorry page)
      → N gunicorn instances (one per "AZ", like an Auto Scaling group)
      → PostgreSQL (a node = role + port + data directory); with database.multi_az a
        primary + synchronous streaming standby, kept redundant by a watchdog

all run by one supervisord per environment, everything under one state directory.

>>> from threetier.local.twin import Twin
>>> twin = Twin.for_spec(spec)          # spec = threetier.spec.load_spec("default")
>>> twin.up(); twin.url                  # 'https://127.0.0.1:8443'
>>> twin.status().components[0].name     # 'db-1a'
>>> twin.down(purge=False)

Modules, from the data to the orchestration:
  layout      where every file of an environment lives (the state directory)
  services    each process described as data (name, kind, command, env, port, probe)
  ports       free/in-use checks and "who holds this port"
  secrets     generated passwords and keys, mode 0600
  postgres    binaries, the unprivileged OS user, initdb, roles, SQL probe
  webapp      the instances' environment (the webapp contract) and manage.py steps
  replication the multi-AZ pair: roles file, replication login, slots, base backups, sync commit
  dbpair      the twin's side of the pair: standby at `up`, roles/lag/redundancy for status and drills
  watchdog    the failover agent (a supervisord program): promote, degrade to async, rebuild
  caddy       the Caddyfile and the load balancer's own view of target health
  supervisor  supervisord.conf and an XML-RPC client over its unix socket
  programs    a supervised program's state and the tail of its log
  envlock     one `up`/`down` at a time per environment
  preflight   what `up` checks first: binaries, state dir, free ports, unchanged config
  dbstart     `up`'s database steps: initdb, start primary (and standby), bootstrap
  bringup     `up`: everything in order, each once the previous is ready; undo on failure
  status      `status` rows and the load balancer's view of target health
  teardown    `down`: bounded stop, no process left, purge
  twin        `Twin`: the façade over all of it, used by the CLI, drills, bench
"""
