"""The demo scenario: the public record of the mechanism plus illustrative data, loaded into a node."""
