"""Tasks: what is predicted and how it is scored. Tasks never import models."""
