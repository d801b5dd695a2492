from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self):
        from agents import cloning, planner, preparation, scheduling  # noqa: F401 (cloning, preparation, planner: receivers)
        from swarm_web import checks  # noqa: F401 (registers the deployment checks)

        # by dotted path: the runtime (and litellm, seconds to import) loads when the first step runs
        scheduling.register_step("agents.runtime.start_step")
        scheduling.register_job(
            scheduling.PREPARE_JOB, "agents.preparation.prepare_batch", scheduling.HOUSEKEEPING, lane=True
        )
        scheduling.register_job(cloning.JOB, "agents.cloning.run", scheduling.HOUSEKEEPING)
