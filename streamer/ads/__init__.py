"""Advertising: campaigns and their creatives, the decision of which ads fill a break for
one listener, insertion into playlists, impressions counted from deliveries. Pure parts
(the model, the decision) beside the I/O ones."""
