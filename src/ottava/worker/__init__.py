"""Workers: claim operations and run one TaskFlow flow per operation through the drivers."""
