"""`threetier check`: cdk-nag, cfn-lint and architecture rules on the synthesized templates,
plus the parameters' traps (what the seeds got wrong), as one list of findings."""
