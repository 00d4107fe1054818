vitvizAtlas("cards_L5_attn.in",{"f":[51,54],"vis":["vis/blocks.5.attn.in_f0051.png","vis/blocks.5.attn.in_f0054.png"],"fail":[null,null],"clip":[null,null],"score":[[1.372,0.232,0.55],null]});
