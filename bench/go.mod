module github.com/podid/podid/bench

go 1.26

require github.com/podid/podid v0.0.0

replace github.com/podid/podid => ../
