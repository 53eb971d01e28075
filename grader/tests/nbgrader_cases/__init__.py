"""Generated nbgrader submissions for the workflow tests and the scale measurement."""
