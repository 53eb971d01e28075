"""Running the course for a class with nbgrader: build, release, autograde, feedback, export."""
