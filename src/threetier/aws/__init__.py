"""The AWS system as CDK (Python): one construct per concern, stacks do the wiring.

`threetier.aws.app.synthesize(spec, outdir)` turns a parameters file into CloudFormation
with no credentials and no network; `python -m threetier.aws.app` is the CDK CLI's entry.
"""

import os

# jsii runs the CDK in a Node.js child process that prints a banner on every start when
# Node is past its end of life; the banner is noise in every CLI and test run.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
