vitvizAtlas("cards_L5_attn.k",{"f":[17,74],"vis":["vis/blocks.5.attn.k_f0017.png","vis/blocks.5.attn.k_f0074.png"],"fail":[null,null],"clip":[null,null],"score":[[1.316,0.232,0.4],null]});
