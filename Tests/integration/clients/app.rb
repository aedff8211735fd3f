# A cache-and-queue app as a Rails or Sidekiq-style app drives redis-rb: prints one line per
# observation, so that the lines from redis-server and from a Strata ring can be compared.
require "redis"

r = Redis.new(host: ARGV[0], port: Integer(ARGV[1]))
out = []
r.flushdb
30.times { |i| r.set("cache:#{i}", "v#{i}", ex: 300) }
out << r.get("cache:7").inspect
out << r.mget("cache:1", "cache:2", "cache:29", "missing").inspect
out << r.dbsize
out << r.scan_each(match: "cache:*").to_a.sort.inspect
out << r.keys("cache:1*").sort.inspect
out << (r.ttl("cache:3") > 290)
r.mapped_mset("a" => 1, "b" => 2, "c" => 3)
out << r.mapped_mget("a", "b", "c", "d").inspect
# Multi-key writes across nodes (MSETNX, RENAME) need the ring's cross-node transactions, not
# built yet (issue 17): keys with a hash tag keep them on one node.
r.mset("{t}a", 1, "{t}b", 2)
out << r.msetnx("{t}a", 9, "{t}z", 9).inspect
out << r.incr("counter") << r.incrby("counter", 5) << r.decr("counter")
r.hset("user:1", "name", "ann", "visits", 3)
out << r.hgetall("user:1").sort.inspect << r.hincrby("user:1", "visits", 2)
out << r.exists("cache:1", "cache:2", "missing")
r.rpush("queue", %w[j1 j2 j3])
out << r.lpop("queue").inspect << r.blpop("queue", timeout: 1).inspect << r.llen("queue")
out << r.brpop("empty-queue", timeout: 1).inspect
r.sadd("tags", %w[red green blue])
out << r.smembers("tags").sort.inspect << r.sismember("tags", "red")
r.zadd("board", [[10, "ann"], [20, "bob"], [15, "cy"]])
out << r.zrevrange("board", 0, -1, with_scores: true).inspect << r.zrank("board", "cy")
replies = r.pipelined do |p|
  p.set("p1", "x")
  p.get("p1")
  p.incr("p2")
end
out << replies.inspect
out << r.multi { |m| m.incr("tx"); m.incr("tx"); m.get("tx") }.inspect
# delete_matched, as Rails' RedisCacheStore does it: SCAN with MATCH, then DEL of each batch.
r.scan_each(match: "cache:1*").each_slice(5) { |batch| r.del(*batch) }
out << r.keys("cache:*").length << r.dbsize
out << r.rename("{t}a", "{t}a2") << r.get("{t}a2").inspect
out << r.type("board") << r.object("encoding", "tags")
r.flushdb
out << r.dbsize << r.randomkey.inspect
puts out
