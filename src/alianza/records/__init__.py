"""Intelligence records on the FollowTheMoney model, with the markings that govern their use."""
