"""stub"""
from bench.report import Section


def run(plan: object) -> Section:
    raise NotImplementedError
