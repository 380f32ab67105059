module ksinstall.local/pause

go 1.24
