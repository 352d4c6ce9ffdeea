"""rpsdet: a rock/paper/scissors hand detector with a declarative data-and-model lifecycle."""
