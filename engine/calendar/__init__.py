"""The content calendar: scheduled posts and the freezes that hold them."""
