"""`threetier init`: a parameters file for a user's own system, from a few answers.

The answers (region, VPC CIDR, instances, domain, alarm e-mail, the app, the runtime) are
checked one by one (`inputs`), the subnets laid out from the VPC CIDR over the region's
AZs (`layout`, `regions`), the app's modules found in its source (`detect`), and the file
rendered in the shipped files' structure and validated with the spec's own rules before
it is written, atomically (`render`, `write`). The CLI (`threetier.cli.init`) only asks
and prints.

>>> plan = build_plan(InitAnswers(name="shop", region="eu-west-1"), existing_ports=[])
>>> text = render_parameters(plan)
>>> write_parameters(parameters_dir() / "shop.toml", text, force=False)
"""
