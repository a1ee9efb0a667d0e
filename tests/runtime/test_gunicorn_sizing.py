"""gunicorn is sized by one rule from the machine the parameters describe (an EC2
instance type's vCPUs and memory, a Fargate task's cpu and memory), the same for the
twin, EC2 and Fargate; its graceful timeout stays below the deregistration delay."""

from __future__ import annotations

import pytest

from threetier.runtime import contract


def test_a_t3_micro_gets_a_worker_per_vcpu_with_four_threads_and_that_is_what_every_runtime_runs():
    assert contract.machine_for_instance_type("t3.micro") == contract.Machine(2, 1024, contract.EC2_RESERVED_MIB)
    sized = contract.gunicorn_for_instance_type("t3.micro")
    assert (sized.workers, sized.threads) == (2, 4)
    assert contract.GUNICORN == sized
    command = contract.gunicorn_command("python", bind="unix:/run/g.sock", name="t")
    assert command[command.index("--workers") + 1] == "2" and command[command.index("--threads") + 1] == "4"


@pytest.mark.parametrize(("instance_type", "workers"), [
    ("t3.nano", 1),  # 512 MiB: memory allows one worker, not two
    ("t2.micro", 1),  # one vCPU
    ("t3.small", 2), ("c6i.xlarge", 4), ("m7g.2xlarge", 8),
])
def test_workers_follow_vcpus_unless_memory_is_short(instance_type, workers):
    assert contract.gunicorn_for_instance_type(instance_type).workers == workers


@pytest.mark.parametrize(("cpu", "memory", "workers"), [(256, 512, 1), (512, 1024, 1), (1024, 2048, 1),
                                                          (2048, 4096, 2), (4096, 8192, 4)])
def test_a_fargate_task_is_sized_from_its_cpu_units_and_memory(cpu, memory, workers):
    sized = contract.gunicorn_for_fargate(cpu, memory)
    assert (sized.workers, sized.threads) == (workers, contract.THREADS_PER_WORKER)


def test_the_graceful_timeout_stays_below_a_short_deregistration_delay():
    for delay, graceful in ((300, 10), (30, 10), (5, 4), (0, 1)):
        sized = contract.gunicorn_for_instance_type("t3.micro", deregistration_delay_seconds=delay)
        assert sized.graceful_timeout_seconds == graceful


def test_an_unknown_instance_type_is_an_error_that_says_what_to_do():
    with pytest.raises(ValueError, match="INSTANCE_TYPES"):
        contract.gunicorn_for_instance_type("x9.huge")


def test_the_rule_is_in_the_docs():
    from threetier.paths import project_root

    text = (project_root() / "docs" / "performance.md").read_text()
    assert "gunicorn_for(machine)" in text and "THREADS_PER_WORKER" in text and "t3.micro" in text
