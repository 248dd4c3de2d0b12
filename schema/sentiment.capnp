# Payloads of the sentiment demo: posts in, scores out.

@0xa2b67c34a04d4688;

struct Post {
  id @0 :UInt64;
  # Post id, unique within the data set.

  rating @1 :Float64;
  # The human mean rating of the post, on the data set's own scale.

  text @2 :Text;
  # The post's text.
}

struct Score {
  id @0 :UInt64;
  # Id of the scored post.

  rating @1 :Float64;
  # The human mean rating, copied from the post.

  compound @2 :Float64;
  # Normalized compound sentiment score in [-1, 1].

  neg @3 :Float64;
  # Share of the text scored negative, in [0, 1].

  neu @4 :Float64;
  # Share of the text scored neutral, in [0, 1].

  pos @5 :Float64;
  # Share of the text scored positive, in [0, 1].

  postedNs @6 :UInt64;
  # When the post entered the pipeline, in nanoseconds since the Unix epoch.
}
