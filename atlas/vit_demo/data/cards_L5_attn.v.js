vitvizAtlas("cards_L5_attn.v",{"f":[5,53],"vis":["vis/blocks.5.attn.v_f0005.png","vis/blocks.5.attn.v_f0053.png"],"fail":["score",null],"clip":[null,null],"score":[[0.85,0.276,0.2],null]});
