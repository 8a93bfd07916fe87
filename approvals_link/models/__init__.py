"""Models of the approval link: records, documents, the parcel join and conformity."""

from approvals_link.models.conformity import (
    ConformityCheck,
    ConformityRule,
    FootprintLink,
    PlanChangeImpact,
    RuleResult,
)
from approvals_link.models.documents import ProjectDocument
from approvals_link.models.records import ApprovalItemEvent, Project, ProjectFootprint

__all__ = ["ApprovalItemEvent", "ConformityCheck", "ConformityRule", "FootprintLink",
           "PlanChangeImpact", "Project", "ProjectDocument", "ProjectFootprint", "RuleResult"]
