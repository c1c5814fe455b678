"""Small helpers with one home, shared by the scripts and packages of this repository."""
