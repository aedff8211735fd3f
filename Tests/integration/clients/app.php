<?php
// The same kind of app through phpredis (as Laravel's and Symfony's cache stores use it).
$r = new Redis();
$r->connect($argv[1], (int)$argv[2], 10);
$out = [];
$r->flushDB();
for ($i = 0; $i < 30; $i++) { $r->set("cache:$i", "v$i", ['ex' => 300]); }
$out[] = var_export($r->get("cache:7"), true);
$out[] = json_encode($r->mGet(["cache:1", "cache:2", "cache:29", "missing"]));
$out[] = $r->dbSize();
$keys = [];
$it = null;
$r->setOption(Redis::OPT_SCAN, Redis::SCAN_RETRY);
while (($batch = $r->scan($it, "cache:*", 10)) !== false) { $keys = array_merge($keys, $batch); }
sort($keys);
$out[] = json_encode($keys);
$k = $r->keys("cache:1*"); sort($k);
$out[] = json_encode($k);
$out[] = var_export($r->mSet(["a" => 1, "b" => 2, "c" => 3]), true);
// Multi-key writes across nodes (MSETNX, RENAME) need the ring's cross-node transactions, not
// built yet (issue 17): keys with a hash tag keep them on one node.
$r->mSet(["{t}a" => 1, "{t}b" => 2]);
$out[] = var_export($r->msetnx(["{t}a" => 9, "{t}z" => 9]), true);
$out[] = $r->incr("counter") . " " . $r->incrBy("counter", 5) . " " . $r->decr("counter");
$r->hMSet("user:1", ["name" => "ann", "visits" => 3]);
$h = $r->hGetAll("user:1"); ksort($h);
$out[] = json_encode($h) . " " . $r->hIncrBy("user:1", "visits", 2);
$out[] = $r->exists("cache:1", "cache:2", "missing");
$r->rPush("queue", "j1", "j2", "j3");
$out[] = json_encode([$r->lPop("queue"), $r->blPop(["queue"], 1), $r->lLen("queue"), $r->brPop(["empty-queue"], 1)]);
$r->sAdd("tags", "red", "green", "blue");
$m = $r->sMembers("tags"); sort($m);
$out[] = json_encode($m) . " " . var_export($r->sIsMember("tags", "red"), true);
$r->zAdd("board", 10, "ann", 20, "bob", 15, "cy");
$out[] = json_encode($r->zRevRange("board", 0, -1, true)) . " " . $r->zRank("board", "cy");
$out[] = json_encode($r->pipeline()->set("p1", "x")->get("p1")->incr("p2")->exec());
$out[] = json_encode($r->multi()->incr("tx")->incr("tx")->get("tx")->exec());
// Laravel's cache flush by prefix: SCAN, then DEL of each batch.
$it = null;
while (($batch = $r->scan($it, "cache:1*", 5)) !== false) { if ($batch) { $r->del($batch); } }
$out[] = count($r->keys("cache:*")) . " " . $r->dbSize();
$out[] = var_export($r->rename("{t}a", "{t}a2"), true) . " " . $r->get("{t}a2");
$out[] = $r->type("board") . " " . $r->object("encoding", "tags");
$r->flushDB();
$out[] = $r->dbSize() . " " . var_export($r->randomKey(), true);
echo implode("\n", $out), "\n";
